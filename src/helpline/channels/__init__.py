"""One package per messaging provider: webhook payload in, provider API call out."""
