"""The AI tutor: questions answered by an OpenAI-compatible model server, streamed token by
token to every device of the student, resumable across reconnects and hub crashes."""
