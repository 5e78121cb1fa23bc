"""4b. gate — `qlongbench check`: turn the same pairing into pass / fail / inconclusive / not
measured per cell, an exit code, JUnit XML and a Markdown summary."""
