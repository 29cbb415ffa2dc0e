"""The demo's live terminal board: read-side queries and their rich rendering."""
