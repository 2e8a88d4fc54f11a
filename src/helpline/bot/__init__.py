"""The self-service bot: the FAQ classifier, the knowledge base it learns from, and the turns it runs."""
