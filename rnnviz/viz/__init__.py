"""Drawing: the palette, static figures, animations, HTML views and widgets.

Everything here reads the core's results (traces, histories, arrays) and
draws them; nothing here trains or measures. Figures take ``ax=None`` and
return the Figure; animations return the ``FuncAnimation``; views return
self-contained HTML; widgets are thin wiring of controls to those functions.
"""
