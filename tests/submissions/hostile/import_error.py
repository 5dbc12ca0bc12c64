# raises at import
raise RuntimeError("I am not finished yet")
