#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image.
# The zip holds: setup.sh, run_autograder, salt.txt and a copy of this repository in course/.
set -euo pipefail
apt-get update -q
apt-get install -y -q python3 python3-pip python3-venv
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet /autograder/source/course
