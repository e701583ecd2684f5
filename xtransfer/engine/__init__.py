"""Training and evaluation of one stage: the LightningModule and DataModule, batching, the multi-task
mixture, model loading, features, and retrieval with its mining."""
