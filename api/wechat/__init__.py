"""WeChat: the server-API client (client), the in-process fake of WeChat's servers (fake), and the
message push in safe mode (push)."""
