from PySide6.QtCore import QModelIndex
from app.jobs import Jobs
from app.tree_model import PAGE, FileTreeModel
from tests.app.test_tree_model import entries

def test_a(qtbot):
    names = [f"f{i:05}" for i in range(PAGE * 2 + 5)]
    jobs = Jobs()
    model = FileTreeModel(lambda d: entries(d, names), jobs)
    with qtbot.waitSignal(model.loaded):
        model.fetchMore(QModelIndex())
    print("rows", model.rowCount())
    model.fetchMore(QModelIndex())
    print("rows2", model.rowCount())
