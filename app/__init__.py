"""The live app: a PyQt6 + pyqtgraph window (and a headless runner) around dirnet's Estimator.

Qt-free (plain pytest covers them, and `--headless` never imports Qt): config, sources, demo,
detector, tracker, smoothing, gestures, pipeline, drawing, recording, mp4, model, headless,
startup, personal_weights, provenance.
Qt: capture (CaptureThread), worker (InferenceWorker), controls, gesture_panel, finetune_panel and
finetune_job, help_dialog, theme, remembered, main_window with window_layout, menus,
window_memory and messages, and panels/ (one widget per file).
"""
