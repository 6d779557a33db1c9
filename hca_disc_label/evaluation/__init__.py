"""Evaluation of disc labels against ground truth, in mm of world space.

Modules: :mod:`.evaluate` (``evaluate``: find, pair, read, match, summarise), :mod:`.discovery`
(finding and pairing label files), :mod:`.matching` (both protocols, per case),
:mod:`.aggregation` (summaries), :mod:`.result` (results + tables), :mod:`.writers` (report
files), :mod:`.plots`; the internal test sets: :mod:`.internal_sets` (+ :mod:`.internal_case`,
:mod:`.synthetic_sets`), :mod:`.real_crops`. Nothing is re-exported here: import each name from
its module.
"""
