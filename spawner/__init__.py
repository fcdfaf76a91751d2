"""The execution side of the platform: takes work from the queue, runs containers.

It never serves HTTP; it talks to the store and to a runtime.
"""
