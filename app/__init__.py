"""The live app: a PyQt6 + pyqtgraph window (and a headless runner) around dirnet's Estimator.

Qt-free (plain pytest covers them, and `--headless` never imports Qt): config, sources, demo,
detector, tracker, smoothing, gestures, pipeline, drawing, recording, files, model, headless,
startup.
Qt: capture (CaptureThread), worker (InferenceWorker), controls, gesture_panel, help_dialog,
theme, main_window and panels/ (one widget per file).
"""
