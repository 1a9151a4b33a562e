"""bert_ms: BERT and the Transformer in MindSpore, for the MindSpore open course on
pre-trained language models (昇思MindSpore技术公开课, BERT unit).

Start every notebook with::

    from bert_ms import device
    device.setup()
"""

__version__ = "0.1.0"
