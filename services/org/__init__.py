"""The organization tree and its people: tables, subtree queries, the all-or-nothing import."""
