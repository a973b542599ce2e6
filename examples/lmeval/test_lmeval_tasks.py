"""lm-evaluation-harness task files run as pytest suites: one case per document.

The task files (tasks/) are in lm-eval's format, unchanged: lm-eval runs them as they are
(from the tasks/largest folder, since lm-eval reads data_files relative to the working
directory), and tests/acceptance/test_lmeval_agreement.py compares its per-document results
with these.
"""

from pytest_llmselect.lmeval import lmeval_suite

test_largest = lmeval_suite("tasks/largest/largest.yaml", metric="acc_norm")
test_addition = lmeval_suite("tasks/addition/addition.yaml", filter="flexible-extract")
test_addition_zeroshot = lmeval_suite("tasks/addition/addition_zeroshot.yaml")
test_addition_loglikelihood = lmeval_suite("tasks/addition/addition_loglikelihood.yaml", metric="acc")
test_multiples_rolling = lmeval_suite("tasks/multiples/multiples_rolling.yaml", metric="bits_per_byte")
