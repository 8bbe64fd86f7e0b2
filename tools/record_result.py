"""Record a finished run's synthetic test WAR/UAR in ferzoo/catalog/results/synthetic.json (the
README table's accuracy column and docs/models read it; see tools/docgen.py).

    python tools/record_result.py RUN_DIR [RUN_DIR ...] [--command "ferzoo train ..."]
                                  [--note TEXT]

RUN_DIR is a folder written by `ferzoo train` (or a `--two-stage` folder); several folders
of one set-up trained with different `--seed`s make one entry: mean WAR/UAR, the WAR range
and each seed's figures. The entry of that model is replaced. Then regenerate the README
table: python tools/update_readme.py
"""

import argparse
import json

from docgen import SYNTHETIC_RESULTS, record_run

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("run_dir", nargs="+")
parser.add_argument("--command", help="command line that made the run (default: rebuilt "
                                      "from run.json)")
parser.add_argument("--note", help="anything a reader should know about the run")
parser.add_argument("--results", default=str(SYNTHETIC_RESULTS))
args = parser.parse_args()
entry = record_run(args.run_dir, args.results, command=args.command, note=args.note)
print(json.dumps(entry, indent=1))
print(f"recorded {entry['model']} in {args.results}; now: python tools/update_readme.py")
