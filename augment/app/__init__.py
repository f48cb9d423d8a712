"""`augment app`: a Streamlit page to generate, inspect and compare digits.

    launch.py         the CLI side: checks the options, then hands over to `streamlit run main.py`
    main.py           the Streamlit script: sidebar navigation, every page behind one error boundary
    page_*.py         the four pages (Generate, Training, Dataset, Report)
    main_path.py      where main.py is and the variable that passes --run (no Streamlit import)
    locate.py         which generator, judge, datasets and report a --run folder holds
    digits.py         digits on demand (classes, seed, temperature, truncation) -> PNG / Parquet
    dataset_stats.py  per-class/source counts, confidence histogram, mean images: streamed scans

Everything except main.py and page_*.py is plain Python the tests call directly; nothing here
imports Ray, and models load from safetensors only.
"""
