from pytest_llmselect.lmeval import lmeval_suite

# Each task file is in lm-eval's YAML format, unchanged; each of its documents becomes a case.
test_largest = lmeval_suite("tasks/largest/largest.yaml", metric="acc_norm")
test_addition = lmeval_suite("tasks/addition/addition.yaml", filter="flexible-extract")
test_addition_zeroshot = lmeval_suite("tasks/addition/addition_zeroshot.yaml")
test_addition_loglikelihood = lmeval_suite("tasks/addition/addition_loglikelihood.yaml", metric="acc")
test_multiples_rolling = lmeval_suite("tasks/multiples/multiples_rolling.yaml", metric="bits_per_byte")
