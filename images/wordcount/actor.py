"""wordcount: the number of whitespace-separated words in MSG, printed and sent as a result.

The result is the count as ASCII digits, e.g. ``b"3"``; a synchronous message
answers with it directly.
"""
from runtime_sdk import get_context, send_bytes_result

context = get_context()
count = len(context.raw_message.split())
print(f"{count} words")
send_bytes_result(str(count).encode())
