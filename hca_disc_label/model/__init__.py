"""The network: HCA-Net (:mod:`.hca_net`), its loss (:mod:`.loss`) and the builder that checks a
card's architecture and builds it (:mod:`.build`). Every module imports torch; nothing is
re-exported here, so ``import hca_disc_label.model`` alone imports nothing heavy.
"""
