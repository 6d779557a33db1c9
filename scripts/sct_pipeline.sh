#!/usr/bin/env bash
# Per-subject SCT pipeline with hca_label discs, for sct_run_batch (spine-generic layout).
#
#   sct_run_batch -script scripts/sct_pipeline.sh -path-data BIDS -path-output OUT [-jobs N]
#   PATH_DATA=BIDS PATH_DATA_PROCESSED=OUT/data_processed PATH_RESULTS=OUT/results \
#       PATH_QC=OUT/qc PATH_LOG=OUT/log scripts/sct_pipeline.sh sub-01      # one subject, no batch
#
# For each sub-XX[/ses-YY]/anat/*_T1w|*_T2w.nii.gz: copy to $PATH_DATA_PROCESSED (the dataset is
# never written), cord segmentation (manual derivatives/labels/..._label-SC_seg.nii.gz if there,
# else sct_deepseg spinalcord), hca_label discs, sct_label_vertebrae -discfile (cord levels),
# sct_process_segmentation -discfile -perlevel 1 (CSA per level, one row per level appended to
# $PATH_RESULTS/csa-SC_T1w.csv / csa-SC_T2w.csv), all with -qc $PATH_QC (one report).
# Environment: HCA_LABEL (command, default hca_label), HCA_LABEL_ARGS (extra options, e.g.
# "-model hca-compact@0.3.0"), USE_MANUAL_DISCS=1 (use a corrected disc file from
# derivatives/labels when there, e.g. after manual_correction). Exit status: 0 when every image
# went through, 1 otherwise. See docs/sct_pipeline.md.
set -uo pipefail

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    [[ $# -ge 1 ]] && exit 0 || exit 2
fi
SUBJECT=$1          # sct_run_batch passes sub-XX or sub-XX/ses-YY (and an empty 2nd argument)
for var in PATH_DATA PATH_DATA_PROCESSED PATH_RESULTS PATH_QC PATH_LOG; do
    if [[ -z "${!var:-}" ]]; then
        echo "sct_pipeline: $var is not set (run through sct_run_batch, or set it)" >&2
        exit 2
    fi
done
HCA_LABEL=${HCA_LABEL:-hca_label}
read -r -a HCA_ARGS <<< "${HCA_LABEL_ARGS:-}"
QC_SUBJECT=${SUBJECT//\//_}   # sub-XX_ses-YY, as sct_run_batch names logs

echo "sct_pipeline: subject $SUBJECT ($(date -u +%FT%TZ))"
src="$PATH_DATA/$SUBJECT/anat"
work="$PATH_DATA_PROCESSED/$SUBJECT/anat"
labels="$PATH_DATA/derivatives/labels/$SUBJECT/anat"
mkdir -p "$work" "$PATH_RESULTS" "$PATH_QC" "$PATH_LOG"
shopt -s nullglob
images=("$src"/*_T1w.nii.gz "$src"/*_T2w.nii.gz)
if [[ ${#images[@]} -eq 0 ]]; then
    echo "sct_pipeline: no *_T1w / *_T2w image in $src" >&2
    exit 1
fi

failed=0
run() { echo "+ $*"; "$@"; }

process() {   # one image: returns non-zero at the first failing step
    local image=$1 file contrast c seg discs
    file=$(basename "$image" .nii.gz)
    contrast=${file##*_}                       # T1w | T2w
    c=$([[ $contrast == T1w ]] && echo t1 || echo t2)
    cp -f "$image" "$work/$file.nii.gz" || return 1
    # the sidecar travels with the image (BIDS): SCT and hca_label read only the NIfTI
    [[ -f "$src/$file.json" ]] && cp -f "$src/$file.json" "$work/"
    cd "$work" || return 1

    seg="${file}_label-SC_seg.nii.gz"
    if [[ -f "$labels/$seg" ]]; then
        echo "cord segmentation: manual, $labels/$seg"
        cp -f "$labels/$seg" "$seg" || return 1
    else
        run sct_deepseg spinalcord -i "$file.nii.gz" -o "$seg" -qc "$PATH_QC" -qc-subject "$QC_SUBJECT" || return 1
    fi

    discs="${file}_label-discs_dlabel.nii.gz"
    if [[ "${USE_MANUAL_DISCS:-0}" == 1 && -f "$labels/$discs" ]]; then
        echo "disc labels: manual, $labels/$discs"
        cp -f "$labels/$discs" "$discs" || return 1
    else
        run "$HCA_LABEL" -i "$file.nii.gz" -c "$c" -o "$discs" -qc "$PATH_QC" -qc-subject "$QC_SUBJECT" \
            "${HCA_ARGS[@]}" || return 1
    fi

    run sct_label_vertebrae -i "$file.nii.gz" -s "$seg" -c "$c" -discfile "$discs" \
        -qc "$PATH_QC" -qc-subject "$QC_SUBJECT" || return 1
    # -vert 1:25 = every level the disc file can name; -append 1 gathers all subjects in one CSV.
    # SCT appends without a lock: with sct_run_batch -jobs N, one subject at a time (flock).
    locked sct_process_segmentation -i "$seg" -discfile "$discs" -vert 1:25 -perlevel 1 \
        -o "$PATH_RESULTS/csa-SC_${contrast}.csv" -append 1 || return 1
}

locked() {    # like run, holding the results folder's lock (where flock(1) exists)
    echo "+ $*"
    if command -v flock >/dev/null 2>&1; then
        flock "$PATH_RESULTS/.csa.lock" "$@"
    else
        "$@"
    fi
}

for image in "${images[@]}"; do
    if ! (process "$image"); then
        echo "sct_pipeline: FAILED on $image" >&2
        failed=1
    fi
done
echo "sct_pipeline: subject $SUBJECT done, status $failed"
exit $failed
