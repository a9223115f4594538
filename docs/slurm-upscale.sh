#!/bin/bash
# Upscale a folder of images with a Slurm array job: 16 tasks, each one shard of the sorted
# inputs (sisr reads SLURM_ARRAY_TASK_ID/_MIN/_MAX/_STEP/_COUNT). A failed or preempted task
# can simply be requeued: it redoes only what its manifest has not marked done.
#
#   sbatch docs/slurm-upscale.sh /data/photos /data/photos_x4
#   sisr shards check /data/photos_x4        # after the array: missing / duplicated / failed
#
#SBATCH --job-name=sisr-upscale
#SBATCH --array=0-15
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --requeue
set -euo pipefail
IN="$1"
OUT="$2"
# One model and options for every task: the shards must share one plan (sisr checks it).
srun sisr upscale "$IN" -r -o "$OUT" --model dcscn --scale 4 --jobs "$SLURM_CPUS_PER_TASK" --shard auto
