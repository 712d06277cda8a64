"""course_lib: the reference implementation of the backpropagation course.

One module per idea: ``scalar`` (a scalar autograd graph), ``functional``
(activations, softmax), ``mlp`` (the general case with lists of weights),
``modules`` (layers with forward/backward), ``batchnorm`` and ``dropout`` (two more
layers), ``losses``, ``init``, ``optim``, ``train``, ``gradcheck``, ``data``, ``plots``,
``bugs`` (planted bugs) and ``hunt`` (a gated layer whose backward pass has bugs the course
has not shown, for lesson 05's hunt).
"""
__version__ = "0.1.0"
