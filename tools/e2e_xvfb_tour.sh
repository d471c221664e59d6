#!/bin/bash
# Usage: OUT=/tmp/shots xvfb-run -a -s "-screen 0 1280x1024x24" tools/e2e_xvfb_tour.sh
# A user tour driven by xdotool: train LeNet-5, look at Inspect, draw a 7, screenshot each step.
# Runs inside xvfb-run: start the app, drive it with xdotool, take screenshots.
# A fresh settings folder each time: the tour ends by killing the app, which leaves an
# autosave that would otherwise greet the next tour with a "restore?" dialog.
export QT_QPA_PLATFORM=xcb CNNSTUDIO_CONFIG_DIR=$(mktemp -d)
cd "$(dirname "$0")/.."
.venv/bin/cnnstudio gui --size 1280x800 > ${TMPDIR:-/tmp}/cnnstudio-e2e-app.log 2>&1 &
APP=$!
sleep 4
WID=$(xdotool search --name "CNN Studio" | head -1)
xdotool windowmove $WID 0 0; sleep 0.5
eval $(xdotool getwindowgeometry --shell $WID)
echo "window $WID at $X,$Y size $WIDTH x $HEIGHT"
shot() { QT_QPA_PLATFORM=xcb .venv/bin/python tools/grab_screen.py ${OUT:-/tmp}/$1.png; }
# Ctrl+2 -> Train view; click Start (at 423,65 in the screenshot + window offset)
xdotool mousemove $((X+351)) $((Y+31)) click 1; sleep 1.5
xdotool mousemove $((X+423)) $((Y+65)) click 1
sleep 2.5; shot train-during
sleep 8; shot train-after
xdotool mousemove $((X+141)) $((Y+31)) click 1; sleep 1.5; shot inspect-after
xdotool mousemove $((X+232)) $((Y+31)) click 1; sleep 1.5
# Draw a "7" on the pad: top bar then diagonal down
PX=$((X+120)); PY=$((Y+120))
xdotool mousemove $PX $PY mousedown 1
for i in $(seq 0 10); do xdotool mousemove $((PX+i*18)) $PY; done
for i in $(seq 0 12); do xdotool mousemove $((PX+180-i*7)) $((PY+i*18)); done
xdotool mouseup 1
sleep 1.5
shot predict-seven
sleep 0.5
kill $APP
wait $APP 2>/dev/null
rm -rf "$CNNSTUDIO_CONFIG_DIR"
