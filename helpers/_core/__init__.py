"""Shared plumbing of every technique in ``helpers``; private: notebooks never import it.

The contract every public technique keeps:

- **model**: a ``VisModel`` or a Keras model (``model.keras_model`` unwraps and checks it);
- **images**: one preprocessed image (H, W, C) or a batch (N, H, W, C); one image in gives
  one result out, a batch gives a batch (``inputs.prepare`` / ``Prepared.output``);
- **classes**: a name ('flamingo', for a ``VisModel``) or an index, one for all images or
  one per image (``model.class_indices``);
- **softmax**: class scores are explained as logits; a model ending in a softmax layer is
  explained without it, with one printed line; outputs that only look like probabilities
  are refused (``model.logits_model``, ``model.refuse_probabilities``);
- **errors**: the same bad input raises the same ``ValueError`` (``TypeError`` for a model
  of the wrong type) with the same message everywhere, because one function here checks it.

Modules: ``model`` (models and classes), ``inputs`` (images, counts, batching), ``graph``
(layers by name and kind, neighbours, batch norm, sub-models), ``compiled`` (one compile
cache, one retracing policy), ``gradients`` (input and feature gradients).
"""
