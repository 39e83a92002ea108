"""Parts of the label_training_data tool: models and one module per action."""
