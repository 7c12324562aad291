"""The demo: a synthetic district (:mod:`interop_hub.demo.district`) and the set-up that
``interop-hub quickstart`` runs (:mod:`interop_hub.demo.quickstart`)."""
