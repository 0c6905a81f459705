"""Box geometry, below the tasks and the data that use it: boxes.py reads and writes GeoChat's box syntax on its
0-100 grid; box_formats.py reads and writes each model family's own box convention (pixels, 0-1000, 0-1)."""
