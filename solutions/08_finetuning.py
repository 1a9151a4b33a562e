"""Solutions to the exercises of lesson 08 (notebooks/08_finetuning.py), and typical wrong answers.

Open this file after you have tried: each exercise's check (``bert_ms.exercises.check``) tells you
whether your own answer is right. ``tests/test_exercises.py`` runs every solution through its check
and proves that each wrong answer below is rejected with a message naming the mistake.
"""


# Exercise 8.1 ---- cut a sentence pair to fit, longest first (run_classifier._truncate_seq_pair)
def truncate_pair(tokens_a, tokens_b, max_tokens):
    a, b = list(tokens_a), list(tokens_b)
    while len(a) + len(b) > max_tokens:  # max_tokens already excludes [CLS] and the two [SEP]
        if len(a) > len(b):
            a.pop()  # the last token of the longer sentence
        else:
            b.pop()  # tokens_b on a tie: when both are cut, tokens_a keeps the odd token
    return a, b


def truncate_b_first(tokens_a, tokens_b, max_tokens):
    b = list(tokens_b[: max(max_tokens - len(tokens_a), 0)])
    return list(tokens_a[:max_tokens - len(b)]), b


def truncate_from_the_front(tokens_a, tokens_b, max_tokens):
    a, b = list(tokens_a), list(tokens_b)
    while len(a) + len(b) > max_tokens:
        if len(a) > len(b):
            a.pop(0)
        else:
            b.pop(0)
    return a, b


# Exercise 8.2 ---- layer-wise decreasing learning rates (Sun et al. 2019)
def layerwise_lr(base_lr, decay, num_layers):
    return [base_lr * decay ** (num_layers - k) for k in range(num_layers + 1)]  # k = 0: embeddings


def layerwise_lr_reversed(base_lr, decay, num_layers):
    return [base_lr * decay ** k for k in range(num_layers + 1)]


def layerwise_lr_without_embeddings(base_lr, decay, num_layers):
    return [base_lr * decay ** (num_layers - k) for k in range(1, num_layers + 1)]


# Exercise 8.3 ---- F1 of the spam class
def spam_f1(predictions, labels):
    tp = int(((predictions == 1) & (labels == 1)).sum())
    fp = int(((predictions == 1) & (labels == 0)).sum())
    fn = int(((predictions == 0) & (labels == 1)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0  # no true spam found: F1 is 0 (P or R is 0, or 0/0)


def spam_f1_is_accuracy(predictions, labels):
    return float((predictions == labels).mean())


def spam_f1_of_ham(predictions, labels):
    return spam_f1(1 - predictions, 1 - labels)


# Exercise 8.4 ---- the new parameters of a 2-label head on MiniLM
minilm_head_params = 384 * 2 + 2  # the classifier's weight [2, 384] and bias [2]; the pooler is pretrained

SOLUTIONS = {
    "truncate_pair": truncate_pair,
    "layerwise_lr": layerwise_lr,
    "spam_f1": spam_f1,
    "minilm_head_params": minilm_head_params,
}

WRONG = {
    "truncate_pair": [(truncate_b_first, "cut the longer sentence first"), (truncate_from_the_front, "from the front")],
    "layerwise_lr": [(layerwise_lr_reversed, "reversed"), (layerwise_lr_without_embeddings, "the embeddings")],
    "spam_f1": [(spam_f1_is_accuracy, "accuracy"), (spam_f1_of_ham, "ham class")],
    "minilm_head_params": [(768, "bias"), (148_610, "pooler"), (1538, "BERT-Base")],
}
