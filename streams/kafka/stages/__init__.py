"""The Kafka worker's stages (score, aggregate, figures), the context they share, and its pages."""
