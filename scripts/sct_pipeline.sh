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
# sct_process_segmentation -discfile -perlevel 1 -vert <levels of the discs found> (CSA per level,
# one row per level appended to $PATH_RESULTS/csa-SC_T1w.csv / csa-SC_T2w.csv, with a column
# NumberingStatus: ok | check (the count may be one level off) | manual), all with -qc $PATH_QC.
# Environment: HCA_LABEL (command, default hca_label), HCA_LABEL_ARGS (extra options, e.g.
# "-model hca-compact@0.5.0"), USE_MANUAL_DISCS=1 (use a disc file corrected by hand from
# derivatives/labels when there; one that hca_disc_label wrote is refused), USE_FOLDER_RUN=1 (use
# the labels of an earlier "hca_label -i BIDS" in derivatives/hca_disc_label when there).
# Exit status: 0 when every image went through, 1 otherwise. See docs/sct_pipeline.md.
set -uo pipefail

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
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
labels="$PATH_DATA/derivatives/labels/$SUBJECT/anat"          # manual labels (ground truth)
folder_run="$PATH_DATA/derivatives/hca_disc_label/$SUBJECT/anat" # an earlier hca_label -i BIDS
mkdir -p "$work" "$PATH_RESULTS" "$PATH_QC" "$PATH_LOG"
shopt -s nullglob
images=("$src"/*_T1w.nii.gz "$src"/*_T2w.nii.gz)
if [[ ${#images[@]} -eq 0 ]]; then
    echo "sct_pipeline: no *_T1w / *_T2w image in $src" >&2
    exit 1
fi

failed=0
run() { echo "+ $*"; "$@"; }

written_by_hca() {   # $1 = a label file: true when its JSON sidecar says hca_disc_label wrote it
    local side="${1%.nii.gz}.json"
    [[ -f "$side" ]] && grep -Eq '"Name"[[:space:]]*:[[:space:]]*"hca_disc_label"' "$side"
}

numbering_status() { # $1 = the disc file used: ok | check (its sidecar's Numbering.status) | manual
    local side="${1%.nii.gz}.json" status
    if ! written_by_hca "$1"; then echo manual; return; fi
    status=$(grep -Eo '"status"[[:space:]]*:[[:space:]]*"[a-z]+"' "$side" | head -n 1 | sed 's/.*"\([a-z]*\)"$/\1/')
    echo "${status:-unknown}"
}

disc_levels() {      # $1 = disc file: "FIRST:LAST", the vertebral levels its discs bound in the cord
    # (disc v tops vertebra v; the cord below the lowest disc is labelled with its value too)
    local values
    values=$(sct_label_utils -i "$1" -display | sed -n 's/.*Value= *\([0-9][0-9]*\).*/\1/p' | sort -n)
    [[ -n "$values" ]] || return 1
    echo "$(head -n 1 <<< "$values"):$(tail -n 1 <<< "$values")"
}

append_csa() {       # $1 = SCT's CSV of one image, $2 = results CSV, $3 = numbering status
    # adds the NumberingStatus column; under the results folder's lock: -jobs N cannot interleave
    (
        command -v flock >/dev/null 2>&1 && flock 9
        if [[ -s "$2" ]]; then
            tail -n +2 "$1" | awk -v s="$3" '{sub(/\r$/, ""); printf "%s,\"%s\"\r\n", $0, s}' >> "$2"
        else
            awk -v s="$3" '{sub(/\r$/, "")} NR == 1 {printf "%s,NumberingStatus\r\n", $0; next}
                           {printf "%s,\"%s\"\r\n", $0, s}' "$1" > "$2"
        fi
    ) 9> "$PATH_RESULTS/.csa.lock"
}

get_discs() {        # $1 = image stem, $2 = contrast: puts ${stem}_label-discs_dlabel.nii.gz in $PWD
    local discs="$1_label-discs_dlabel.nii.gz" side="$1_label-discs_dlabel.json"
    if [[ "${USE_MANUAL_DISCS:-0}" == 1 && -f "$labels/$discs" ]]; then
        if written_by_hca "$labels/$discs"; then
            echo "sct_pipeline: $labels/$discs was written by hca_disc_label (its sidecar says so), not corrected by hand: not used as manual discs" >&2
        else
            echo "disc labels: manual, $labels/$discs"
            cp -f "$labels/$discs" "$discs" && rm -f "$side"
            return
        fi
    fi
    if [[ "${USE_FOLDER_RUN:-0}" == 1 && -f "$folder_run/$discs" ]] && written_by_hca "$folder_run/$discs"; then
        echo "disc labels: hca_label folder run, $folder_run/$discs"
        cp -f "$folder_run/$discs" "$discs" && cp -f "$folder_run/$side" "$side"
        return
    fi
    run "$HCA_LABEL" -i "$1.nii.gz" -c "$2" -o "$discs" -qc "$PATH_QC" -qc-subject "$QC_SUBJECT" "${HCA_ARGS[@]}"
}

process() {   # one image: returns non-zero at the first failing step
    local image=$1 file contrast c seg discs status levels
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
    get_discs "$file" "$c" || return 1
    status=$(numbering_status "$discs")
    if [[ $status == check ]]; then
        echo "sct_pipeline: $file: numbering 'check' (the disc count may be one level off): marked in the CSA table and in the QC report" >&2
    fi

    run sct_label_vertebrae -i "$file.nii.gz" -s "$seg" -c "$c" -discfile "$discs" \
        -qc "$PATH_QC" -qc-subject "$QC_SUBJECT" || return 1
    # -vert: the levels the discs found bound (1:25 would warn once per absent level and slice)
    levels=$(disc_levels "$discs") || { echo "sct_pipeline: no disc label in $discs" >&2; return 1; }
    run sct_process_segmentation -i "$seg" -discfile "$discs" -vert "$levels" -perlevel 1 \
        -o "${file}_csa.csv" || return 1
    append_csa "${file}_csa.csv" "$PATH_RESULTS/csa-SC_${contrast}.csv" "$status" || return 1
}

for image in "${images[@]}"; do
    if ! (process "$image"); then
        echo "sct_pipeline: FAILED on $image" >&2
        failed=1
    fi
done
echo "sct_pipeline: subject $SUBJECT done, status $failed"
exit $failed
