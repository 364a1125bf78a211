"""Classical (feature-based, scikit-learn) classifiers behind the medimg ``Model`` facade.

``Model("random-forest", features="handcrafted")`` returns a :class:`~medimg.classical.model.ClassicalModel`;
:mod:`medimg.classical.pipelines` builds the scikit-learn pipelines and their hyper-parameter search.
"""
