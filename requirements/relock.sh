#!/usr/bin/env bash
# Rebuild requirements/lock.txt from requirements/base.in in a scratch venv (maintainers only).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
python3.11 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet "pip==26.0.1"
"$tmp/venv/bin/pip" install --quiet -r requirements/base.in
"$tmp/venv/bin/pip" install --quiet --no-deps -r requirements/lock-nodeps.txt
nodeps=$(grep -v '^#' requirements/lock-nodeps.txt | cut -d= -f1 | paste -sd'|')
{
  sed -n '1,4p' requirements/lock.txt
  echo "setuptools==$("$tmp/venv/bin/python" -c 'import setuptools; print(setuptools.__version__)')"
  "$tmp/venv/bin/pip" freeze --all | grep -v -E "^(pip|setuptools|$nodeps)==" 
} > requirements/lock.txt.new
mv requirements/lock.txt.new requirements/lock.txt
rm -rf "$tmp"
echo "requirements/lock.txt rewritten; run 'make clean-venv setup test' before committing it"
