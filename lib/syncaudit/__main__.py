from syncaudit.cli import main

raise SystemExit(main())
