"""The live app: PyQt6 + pyqtgraph window (and a headless runner) around dirnet's Estimator.

Qt-free modules (plain pytest covers them): config, sources, demo, detector, tracker, smoothing,
gestures, pipeline, drawing, recording, model, headless. Qt modules: capture, worker, controls,
gesture_panel, main_window and panels/.
"""
