"""The MOS listening test: stimuli built from the generated clips, a rating page, and its ratings store.

``stimuli`` builds a test (opaque stimulus IDs, loudness-normalised wavs, the key kept apart),
``store`` keeps ratings in SQLite, ``server`` serves the page, ``cli`` is ``vocoder-energy-listen``.
"""
