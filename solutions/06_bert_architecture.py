"""Solutions to the exercises of lesson 06 (notebooks/06_bert_architecture.py), and typical wrong answers.

Open this file after you have tried: each exercise's check (``bert_ms.exercises.check``) tells you
whether your own answer is right. ``tests/test_exercises.py`` runs every solution through its check
and proves that each wrong answer below is rejected with a message naming the mistake.
"""

from mindspore import ops


def _layer_norm(x, gamma, beta, eps=1e-12):
    mean = x.mean(-1, keep_dims=True)
    var = ((x - mean) ** 2).mean(-1, keep_dims=True)  # the biased variance, as LayerNorm uses
    return (x - mean) / ops.sqrt(var + eps) * gamma + beta


# Exercise 6.1 ------------------------------------------------------------------------------------
# LayerNorm(token + segment + position embedding)
def bert_embeddings(input_ids, token_type_ids, word, position, segment, gamma, beta):
    t = input_ids.shape[1]
    x = word[input_ids] + segment[token_type_ids] + position[:t]  # position[:t] broadcasts over the batch
    return _layer_norm(x, gamma, beta)


def embeddings_without_layer_norm(input_ids, token_type_ids, word, position, segment, gamma, beta):
    return word[input_ids] + segment[token_type_ids] + position[: input_ids.shape[1]]


def embeddings_without_segments(input_ids, token_type_ids, word, position, segment, gamma, beta):
    return _layer_norm(word[input_ids] + position[: input_ids.shape[1]], gamma, beta)


def embeddings_positions_from_one(input_ids, token_type_ids, word, position, segment, gamma, beta):
    t = input_ids.shape[1]
    return _layer_norm(word[input_ids] + segment[token_type_ids] + position[1:t + 1], gamma, beta)


def embeddings_pytorch_eps(input_ids, token_type_ids, word, position, segment, gamma, beta):
    t = input_ids.shape[1]
    return _layer_norm(word[input_ids] + segment[token_type_ids] + position[:t], gamma, beta, eps=1e-5)


# Exercise 6.2 ------------------------------------------------------------------------------------
# the pooler, C = tanh(W h_[CLS] + b)
def pooler(sequence_output, weight, bias):
    return ops.tanh(ops.matmul(sequence_output[:, 0], weight.T) + bias)


def pooler_mean(sequence_output, weight, bias):
    return ops.tanh(ops.matmul(sequence_output.mean(1), weight.T) + bias)


def pooler_without_tanh(sequence_output, weight, bias):
    return ops.matmul(sequence_output[:, 0], weight.T) + bias


def pooler_weight_not_transposed(sequence_output, weight, bias):
    return ops.tanh(ops.matmul(sequence_output[:, 0], weight) + bias)


# Exercise 6.3 ------------------------------------------------------------------------------------
# the MLM head, tied to the token table
def mlm_head(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h = ops.gelu(ops.matmul(hidden, dense_weight.T) + dense_bias, approximate="none")
    h = _layer_norm(h, gamma, beta)
    return ops.matmul(h, word_table.T) + bias


def mlm_head_without_transform(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    return ops.matmul(hidden, word_table.T) + bias


def mlm_head_without_bias(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h = _layer_norm(ops.gelu(ops.matmul(hidden, dense_weight.T) + dense_bias, approximate="none"), gamma, beta)
    return ops.matmul(h, word_table.T)


def mlm_head_relu(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h = _layer_norm(ops.relu(ops.matmul(hidden, dense_weight.T) + dense_bias), gamma, beta)
    return ops.matmul(h, word_table.T) + bias


def mlm_head_without_layer_norm(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h = ops.gelu(ops.matmul(hidden, dense_weight.T) + dense_bias, approximate="none")
    return ops.matmul(h, word_table.T) + bias


# Exercise 6.4 ------------------------------------------------------------------------------------
# BertForPreTraining's parameters (the formula of section 2, plus the heads), for any BertConfig
def param_count(config):
    v, h, n_layers = config.vocab_size, config.hidden_size, config.num_hidden_layers
    f, p, s = config.intermediate_size, config.max_position_embeddings, config.type_vocab_size
    embeddings = v * h + p * h + s * h + 2 * h  # three tables + LayerNorm
    attention = 4 * (h * h + h) + 2 * h  # Q, K, V, output (+ biases) + LayerNorm
    ffn = h * f + f + f * h + h + 2 * h  # two dense layers (+ biases) + LayerNorm
    pooler = h * h + h
    mlm = h * h + h + 2 * h + v  # transform (dense + LayerNorm) + output bias; the matrix is E, tied
    nsp = 2 * h + 2
    return embeddings + n_layers * (attention + ffn) + pooler + mlm + nsp


def param_count_untied(config):
    return param_count(config) + config.vocab_size * config.hidden_size


def param_count_encoder_only(config):
    h = config.hidden_size
    return param_count(config) - (h * h + h + 2 * h + config.vocab_size + 2 * h + 2)


def param_count_without_output_bias(config):
    return param_count(config) - config.vocab_size


def param_count_ffn_4h(config):
    h, f = config.hidden_size, config.intermediate_size
    return param_count(config) - config.num_hidden_layers * (2 * h * f + f) + config.num_hidden_layers * (8 * h * h + 4 * h)


SOLUTIONS = {
    "bert_embeddings": bert_embeddings,
    "pooler": pooler,
    "mlm_head": mlm_head,
    "param_count": param_count,
}

WRONG = {
    "bert_embeddings": [
        (embeddings_without_layer_norm, "without the LayerNorm"),
        (embeddings_without_segments, "segment embeddings"),
        (embeddings_positions_from_one, "off by one"),
        (embeddings_pytorch_eps, "epsilon"),
    ],
    "pooler": [
        (pooler_mean, "mean pooling"),
        (pooler_without_tanh, "tanh is missing"),
        (pooler_weight_not_transposed, "not transposed"),
    ],
    "mlm_head": [
        (mlm_head_without_transform, "transform"),
        (mlm_head_without_bias, "output bias"),
        (mlm_head_relu, "ReLU"),
        (mlm_head_without_layer_norm, "LayerNorm of the transform is missing"),
    ],
    "param_count": [
        (param_count_untied, "tied"),
        (param_count_encoder_only, "only BertModel"),
        (param_count_without_output_bias, "output bias"),
        (param_count_ffn_4h, "intermediate_size"),
    ],
}
