"""XTREME and XTREME-R: benchmark names and languages, official-equivalent scoring, submission export."""
