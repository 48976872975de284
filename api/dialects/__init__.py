"""The REST dialects served over the engine, one package each."""
