"""Evidence files: uploads by content hash, and who may cite them where."""
