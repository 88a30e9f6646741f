#!/bin/sh
# Sets up Tequio in ./.venv and runs a first node in a throwaway home: create it, publish two signed
# notes, list them, check the store. The main job is `tequio demo` (README); this is one node by hand.
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q -e .
TEQUIO_HOME="$(mktemp -d)"
export TEQUIO_HOME
T=.venv/bin/tequio
echo "== tequio init"
$T init --name "Casa de la Memoria"
echo "== tequio publish (twice: the second record is chained to the first)"
$T publish core.note --body '{"text": "Primera nota firmada: documentamos, verificamos, compartimos."}'
$T publish core.note --body '{"text": "Second signed note / segunda nota."}'
echo "== tequio records list"
$T records list
echo "== tequio check"
$T check
echo "== done. The node lives in $TEQUIO_HOME; try: TEQUIO_HOME=$TEQUIO_HOME $T info"
