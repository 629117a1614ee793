#!/bin/bash
# Table 1 with the drop-on-the-clock cpu recipe: one model per N, 1200 s of training each, two at a time.
cd . && . .venv/bin/activate
train() { python -m experiments.train --config=configs/binary.py:cpu,n=$1 --workdir=runs/t4/n$1 --config.train.max_seconds=1200 > runs/t4/n$1.log 2>&1; }
date > runs/t4/times.txt
train 16 & train 32 & wait; date >> runs/t4/times.txt
train 48 & train 64 & wait; date >> runs/t4/times.txt
train 96; date >> runs/t4/times.txt
python -m experiments.evaluate --workdir=runs/t4/n16 --workdir=runs/t4/n32 --workdir=runs/t4/n48 --workdir=runs/t4/n64 --workdir=runs/t4/n96 --hopfield=hebb,pseudo_inverse --nomodern_hopfield --json=runs/t4/table1.json --output=runs/t4/table1.md > runs/t4/eval.log 2>&1
date >> runs/t4/times.txt
