"""4a. render — turn analysis data into the report: HTML, summary.md, results.json and charts."""
