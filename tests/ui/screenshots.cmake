# SPDX-License-Identifier: GPL-3.0-or-later
# The screenshot test: runs the UI tests under Xvfb (the real xcb platform, not offscreen) with
# PSA_UI_SCREENSHOTS set, so that they write the main window with a filled preview strip, the
# profile builder and the training wizard's run page after a finished run, then checks the
# pictures. Copy them to docs/screenshots when they change (docs/ui.md).
# Inputs: XVFB_RUN, OUT (folder), TESTS ("|"-separated test executables).
string(REPLACE "|" ";" tests "${TESTS}")
file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}")
foreach(test IN LISTS tests)
    execute_process(
        COMMAND "${XVFB_RUN}" -a -s "-screen 0 1600x1000x24" env -u QT_QPA_PLATFORM
                "PSA_UI_SCREENSHOTS=${OUT}" "${test}"
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${test} under Xvfb failed (${rc}):\n${out}")
    endif()
endforeach()
foreach(name main-window profile-builder training-wizard)
    set(png "${OUT}/${name}.png")
    if(NOT EXISTS "${png}")
        message(FATAL_ERROR "no screenshot ${png}")
    endif()
    file(SIZE "${png}" bytes)
    if(bytes LESS 8000) # a blank or failed grab compresses to almost nothing
        message(FATAL_ERROR "${png} is only ${bytes} bytes: the window did not draw")
    endif()
endforeach()
message(STATUS "screenshots in ${OUT}")
