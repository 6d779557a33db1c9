"""numbering.tsv: the numbering block of every image of a folder run (run/numbering_table.py)."""

from hca_disc_label.run.numbering_table import TABLE_COLUMNS, numbering_row, numbering_table_text


def test_numbering_table_is_bids_tsv_with_check_images_first():
    rows = [numbering_row("a.nii.gz", "a_l.nii.gz", {"status": "ok", "confidence": 0.99}),
            numbering_row("b.nii.gz", "b_l.nii.gz", {"status": "check", "confidence": 0.7,
                                                     "alternative": {"offset": -1, "confidence": 0.2},
                                                     "hint": "-initz 3,25"}),
            numbering_row("c.nii.gz", "c_l.nii.gz", {"status": "check", "confidence": 0.4}),
            numbering_row("d.nii.gz", "d_l.nii.gz", None)]
    lines = numbering_table_text(rows).splitlines()
    assert lines[0].split("\t") == list(TABLE_COLUMNS)
    assert [ln.split("\t")[0] for ln in lines[1:]] == ["c.nii.gz", "b.nii.gz", "a.nii.gz", "d.nii.gz"]
    assert "-initz 3,25" in lines[2] and "\t-1\t0.2\t" in lines[2]
    assert all(len(ln.split("\t")) == len(TABLE_COLUMNS) for ln in lines)
    assert lines[4].split("\t")[2:] == ["n/a"] * (len(TABLE_COLUMNS) - 2)  # BIDS: n/a for a missing value
