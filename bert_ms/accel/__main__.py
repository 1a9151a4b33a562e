"""``python -m bert_ms.accel``: build the fused CPU kernels once (``make setup`` runs it); one line per library.

Never fails the setup: where no compiler exists or a build fails, it says so and training uses MindSpore's ops."""

from bert_ms.accel import fused

for line in fused.build():
    print(line)
