#!/bin/sh
# RFSCNN Table 1 on the built-in synthetic data (with optical flow): the temporal stream,
# the spatial stream and the fused model, same recipe and epochs, then the paper's SVM on
# each run (held-out test split and leave-one-subject-out over the test subjects).
# About an hour on a 2-core CPU. Run from the repository root.
set -e
for m in rfscnn_temporal rfscnn_spatial rfscnn; do
  ferzoo train --model $m --preset cpu --synthetic flow=True --epochs 20 \
    --out runs/t1_$m --quiet
  python -m ferzoo.training.svm fit --run runs/t1_$m
  python -m ferzoo.training.svm evaluate --svm runs/t1_$m/svm
  python -m ferzoo.training.svm evaluate --svm runs/t1_$m/svm --loso
done
