"""geolocate workbench: `streamlit run app.py`.

Pages: Locate (a photo and/or analyst evidence -> ranked search regions), Benchmark (Recall-vs-Area per
benchmark), Layers (the geodata behind the attribute experts).
"""

import streamlit as st

from geolocate.settings import keep_uploads_in_memory

st.set_page_config(page_title="geolocate", page_icon="🌍", layout="wide")

# Photos must never touch the disk: the web server would otherwise spool uploads over 1 MB to a temp file.
keep_uploads_in_memory(st.get_option("server.maxUploadSize"))

nav = st.navigation(
    [
        st.Page("pages/locate.py", title="Locate", icon=":material/location_on:", default=True),
        st.Page("pages/benchmark.py", title="Benchmark", icon=":material/insights:"),
        st.Page("pages/layers.py", title="Layers", icon=":material/layers:"),
        st.Page("pages/cases.py", title="Cases", icon=":material/photo_library:", url_path="cases"),
        st.Page("pages/classroom.py", title="Classroom", icon=":material/school:", url_path="classroom"),
    ]
)
nav.run()
