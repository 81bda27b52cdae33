"""Store: run folders and atomic writes, the content-addressed cache, maps on disk.

May import models, inputs and the base modules; holds no scoring logic."""
