"""HTTP and websocket adapters: thin routes that parse, call one service, and render."""
